"""hubpub: declarative publishing of container images.

Data flows one way: config -> desired references -> observed state -> plan -> apply -> report.
"""

__version__ = "0.1.0"
