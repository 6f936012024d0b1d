"""The compiled part of dedup: optional, so an install without a C compiler still works
(dedup/lsh.py, dedup/verify.py, dedup/analysis.py and dedup/sketch.py then do the same in
Python and numpy)."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("dedup._bandsearch", ["dedup/_bandsearch.c"], depends=["dedup/_sorted.h"],
                  extra_compile_args=["-O3"], optional=True),
        Extension("dedup._analysis", ["dedup/_analysis.c"], depends=["dedup/_sorted.h"],
                  extra_compile_args=["-O3"], optional=True),
        Extension("dedup._setops", ["dedup/_setops.c"], depends=["dedup/_sorted.h"],
                  extra_compile_args=["-O3"], optional=True),
    ],
)
