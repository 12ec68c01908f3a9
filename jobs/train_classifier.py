"""spark-submit jobs/train_classifier.py --positive NAME=PATH ... --negative PATH --model DIR"""

from curation.classify import TrainClassifierJob
from curation.job import run_job

if __name__ == "__main__":
    run_job(TrainClassifierJob())
