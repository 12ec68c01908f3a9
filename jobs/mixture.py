"""spark-submit jobs/mixture.py --dataset NAME=PATH[:WEIGHT] ... [--weights FILE] --token-budget T --output DIR"""

from curation.job import run_job
from curation.mixture import MixtureJob

if __name__ == "__main__":
    run_job(MixtureJob())
