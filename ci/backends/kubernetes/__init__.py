"""The Kubernetes backend: a namespace per run, rendered from the service's compose file.

Host mode (``--backend kubernetes``) runs Pods and Services in the cluster and
the suite on this host through port-forwards; Job mode (``--in-cluster``) runs
the suite itself as a Job next to them. See docs/kubernetes-backend.md.
"""
