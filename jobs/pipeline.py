"""spark-submit jobs/pipeline.py --config FILE.toml [--force]"""

from curation.job import run_job
from curation.pipeline import PipelineJob

if __name__ == "__main__":
    run_job(PipelineJob())
