"""Kubernetes: chart values, helm via pyhelm3, waiting for pods and resolving addresses via kr8s."""
