"""spark-submit jobs/extract.py --input SRC ... --output DIR [--extractor NAME]"""

from curation.extract import ExtractJob
from curation.job import run_job

if __name__ == "__main__":
    run_job(ExtractJob())
