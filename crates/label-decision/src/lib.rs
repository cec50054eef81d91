//! Decides a container's labels from its spec: which rule applies and what level to keep, share or allocate (pure)
