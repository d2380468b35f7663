"""clusterdash: who is doing what to the cluster's NFS file server."""

__version__ = "0.1.0"
