"""TrainConfig and its key, the trainer, the model cache, callbacks, TensorBoard runs, multi-worker set-up."""
