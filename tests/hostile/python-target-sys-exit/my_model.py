"""A model function that ends the interpreter instead of answering one of the cases."""

import sys


def answer(messages):
    if "goodbye" in messages[-1]["content"]:
        sys.exit(0)
    return "hello"
