"""A model function that never returns for one of the cases."""

import time


def answer(messages):
    if "goodbye" in messages[-1]["content"]:
        time.sleep(1000)
    return "hello"
