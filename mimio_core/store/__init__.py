"""Record and file storage: the interfaces and the backends that implement them."""
