"""The compiled part of dedup: optional, so an install without a C compiler still works
(dedup/lsh.py and dedup/verify.py then do the same in numpy)."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("dedup._bandsearch", ["dedup/_bandsearch.c"], depends=["dedup/_sorted.h"],
                  extra_compile_args=["-O3"], optional=True),
        Extension("dedup._setops", ["dedup/_setops.c"], depends=["dedup/_sorted.h"],
                  extra_compile_args=["-O3"], optional=True),
    ],
)
