// Some tests switch process-wide engine settings (thread count, forced GEMM kernel); run classes one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
