"""spark-submit jobs/classify.py --model DIR --input DOCS --output DIR --alpha 9 --seed S"""

from curation.classify import ClassifyJob
from curation.job import run_job

if __name__ == "__main__":
    run_job(ClassifyJob())
