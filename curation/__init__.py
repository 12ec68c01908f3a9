"""Data curation for language-model pre-training, after GPT-3's Common Crawl pipeline.

Stages (one module each): extract -> classify -> dedup -> decontaminate -> mixture -> train.
"""

__version__ = "0.1.0"
