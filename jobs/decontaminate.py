"""spark-submit jobs/decontaminate.py --input NAME=PATH ... --benchmarks DIR --output DIR"""

from curation.decontaminate import DecontaminateJob
from curation.job import run_job

if __name__ == "__main__":
    run_job(DecontaminateJob())
