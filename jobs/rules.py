"""spark-submit jobs/rules.py --input RUN/extract/documents --output DIR [--languages en] [--blocklist CATEGORY=PATH]"""

from curation.job import run_job
from curation.rules.stage import RulesJob

if __name__ == "__main__":
    run_job(RulesJob())
