//! Make a container's files carry its label: rootfs remount with context=, plain-directory relabel, z/Z volume relabel
