"""A model function that takes nothing, so it cannot be given the messages."""


def answer():
    return "hello"
