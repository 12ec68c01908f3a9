"""spark-submit jobs/classifier.py --positive NAME=PATH ... --negative PATH --model DIR"""

from curation.classifier import ClassifierJob
from curation.job import run_job

if __name__ == "__main__":
    run_job(ClassifierJob())
