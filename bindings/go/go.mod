module ringkernel

go 1.19
