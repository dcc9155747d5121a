"""raddiff training side: the PyTorch UNet, noise schedules, reference samplers and ONNX export."""
