"""Datasets: environment task splits and oracle demonstrations (TFDS array_record + grain).

`demos` generates numpy arrays from any registered environment; `tfds_builders` writes them as
TFDS datasets (`EnvTasks`, `EnvDemos`) and reads them back with `tfds.data_source` and grain.
"""
