module edgelab.local/runc-wrapper

go 1.22
