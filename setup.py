"""The compiled part of dedup: optional, so an install without a C compiler still works
(dedup/lsh.py then runs the same query in numpy)."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("dedup._bandsearch", ["dedup/_bandsearch.c"], extra_compile_args=["-O3"], optional=True),
    ],
)
