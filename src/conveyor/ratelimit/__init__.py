"""Request rate limits: in memory for one process, in Redis across replicas."""
