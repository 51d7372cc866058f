"""The cost allocation tags the program puts on every resource (components/tagging.py), for stackops to read.

Kept equal to ``components.tagging`` by a test: stackops does not import the Pulumi program.
"""

STACK_TAG = "github-automation:stack"
ARCHITECTURE_TAG = "github-automation:architecture"
