"""spark-submit jobs/dedup.py --dataset NAME=PATH ... [--priority A,B,...] --output DIR"""

from curation.dedup import DedupJob
from curation.job import run_job

if __name__ == "__main__":
    run_job(DedupJob())
