"""spark-submit jobs/filter.py --model DIR --input DOCS --output DIR --alpha 9 --seed S"""

from curation.classify import FilterJob
from curation.job import run_job

if __name__ == "__main__":
    run_job(FilterJob())
