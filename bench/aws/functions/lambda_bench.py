"""The function bench/aws/run.sh maps against the trivial local endpoint.

Nothing runs it there (the endpoint answers instantly); it is shipped only so that each
job goes through the real modules path (zip by content hash, uploaded once). Against the
emulator the benchmark calls `builtins:abs` instead, with no modules to ship, so the
emulator's warm workers never import boto3 (see bench/README.md).
"""


def ident(x):
    """One trivial call: returns its argument."""
    return x
