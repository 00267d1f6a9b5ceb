"""The datasets: MNIST, Fashion-MNIST, digits, binarized MNIST (Keras loaders) and the shapes grid."""
