"""Every hidden framework default that could make the two backends differ, set once, here.

Both backends read these constants; neither relies on its framework's own default for any
of them. The reference semantics are Keras 3's (the suite schema's optimizer fields are
named and defaulted after Keras: ``rho``, ``epsilon=1e-7``); where PyTorch's built-in
differs, the torch backend adjusts it as described next to each constant.

This module imports no other greenbench module and no framework.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- numerics
DTYPE = "float32"  # all weights, activations and optimizer state are float32 in both backends
LAYER_NORM_EPSILON = 1e-5  # torch's default; Keras' LayerNormalization default is 1e-3, so it is passed explicitly
GELU_APPROXIMATE = False  # exact erf GELU; torch nn.GELU() default, Keras `gelu(approximate=False)` passed explicitly
DISABLE_TF32 = True  # CUDA: TF32 matmul/conv off in both (torch.backends.*.allow_tf32, tf enable_tensor_float_32_execution)

# --------------------------------------------------------------------------- initializers (numpy, greenbench.workloads.weights)
KERNEL_INIT = "glorot_uniform"  # dense/conv/input-recurrent/attention/patch kernels: U(±sqrt(6/(fan_in+fan_out)))
RECURRENT_INIT = "orthogonal"  # LSTM/GRU recurrent kernels (H, gates*H): rows orthonormal (Keras' default)
BIAS_INIT = 0.0  # every bias is zero ...
LSTM_FORGET_BIAS = 1.0  # ... except the LSTM forget-gate bias, 1.0 (Keras' unit_forget_bias=True; helps training)
EMBEDDING_INIT_STD = 0.02  # transformer class token and position embedding: normal(0, 0.02), as in ViT

# --------------------------------------------------------------------------- layers
# LSTM: torch has two bias vectors (bias_ih, bias_hh), Keras one. torch's bias_hh is frozen at zero
# (requires_grad=False, not counted, not given to the optimizer), so the math is Keras' exactly.
LSTM_TORCH_FROZEN_BIAS_HH = True
# GRU: Keras reset_after=True (CuDNN-compatible) has an input and a recurrent bias, exactly torch's
# formula n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); Keras gate order z,r,h, torch r,z,n (mapped).
GRU_RESET_AFTER = True
RNN_ACTIVATION = "tanh"  # both frameworks' default, set explicitly in Keras
RNN_RECURRENT_ACTIVATION = "sigmoid"  # torch's fixed gate activation; Keras 3 default (Keras 2 used hard_sigmoid)
CONV_PADDING = "valid"  # no padding, as in the classic MNIST CNN of both frameworks' examples
# Dropout placement (both frameworks use inverted dropout: kept units are scaled by 1/(1-p) in training):
#   mlp: after every hidden layer's activation
#   cnn: after the max-pool (`dropout`) and after the dense layer's activation (`dense_dropout`)
#   rnn: on the output sequence of every recurrent layer (elementwise, per timestep), and on the last
#        layer's final state before the head; never inside the cell (no recurrent dropout)
#   transformer: after the position embedding is added, on the attention output projection, on the
#        MLP's hidden activation and on the MLP's output (not on the attention probabilities)
# The dropout *masks* come from each framework's own RNG (seeded from the run seed): this is the one
# stochastic element the backends do not share; both draw from the same Bernoulli(1-p) distribution.
DROPOUT_PLACEMENT = "see comment above"

# --------------------------------------------------------------------------- loss and regularization
LOSS = "cross-entropy from logits, mean over the batch"  # torch F.cross_entropy; Keras from_logits=True
# L1/L2 are added to the loss (Keras' convention), never as torch weight_decay (which would be L2/2 and
# coupled to the optimizer): loss = CE + l1 * sum(|w|) + l2 * sum(w**2) over the *regularized* weights:
# every kernel (dense, conv, recurrent input and recurrent kernels, attention q/k/v/out, patch
# embedding, head); never biases, LayerNorm scales/offsets, the class token or the position embedding.
REGULARIZED = "kernels only"

# --------------------------------------------------------------------------- optimizers (Keras 3 semantics)
# SGD: Keras keeps the velocity in parameter units (m = mu*m - lr*g; w += m), torch in gradient units
# (v = mu*v + g; w -= lr*v). Identical under a constant learning rate; under a schedule torch's
# momentum buffer is rescaled by lr_old/lr_new whenever the rate changes, which makes it exact.
# Nesterov: Keras w += mu*m - lr*g, torch w -= lr*(g + mu*v): identical with the same rescaling.
SGD_DAMPENING = 0.0  # torch's dampening (Keras has none)
# Adam: Keras applies epsilon to the *uncorrected* sqrt(v) ("epsilon hat" of Kingma & Ba, sec. 2):
#   w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
# torch applies it to the bias-corrected one: w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
# The torch backend sets its eps to eps/sqrt(1-b2^t) before step t, which gives Keras' update exactly.
ADAM_AMSGRAD = False  # both
# RMSprop: Keras puts epsilon *inside* the square root and the learning rate inside the momentum
#   v = rho*v + (1-rho)*g^2;  inc = lr*g/sqrt(v + eps);  m = mu*m + inc;  w -= m  (w -= inc without momentum)
# torch.optim.RMSprop puts eps outside (sqrt(v) + eps) and lr outside the momentum buffer, and has no
# option for either, so the torch backend uses a small RMSprop (greenbench.backends.torch.optim) that
# implements Keras' formula. torch's `alpha` is Keras' `rho`.
RMSPROP_CENTERED = False  # both
OPTIMIZER_STATE_INIT = 0.0  # every moment/velocity starts at zero in both
# No gradient clipping, no weight decay inside the optimizer, no EMA of weights, no loss scaling.

# --------------------------------------------------------------------------- schedule, data, execution
LR_STEP_MILESTONES = (0.5, 0.75)  # "step" schedule: x0.1 after 50 % and again after 75 % of all steps
LR_STEP_GAMMA = 0.1
SHIFT_MAX_PX = 2.0  # augmentation "shift": uniform sub-pixel translation in [-2, 2] px on each axis
ROTATE_MAX_DEG = 10.0  # augmentation "rotate": uniform rotation in [-10, 10] degrees about the centre
# Thread pools: intra-op = spec.training.threads or every core this process may use, in both.
# Inter-op = 1 in both: torch eager uses its inter-op pool only for torch.jit.fork (never here), while
# TensorFlow would otherwise run independent graph ops concurrently, each also using the intra-op pool,
# oversubscribing the cores the intra-op setting grants.
INTER_OP_THREADS = 1
# Determinism in both: torch.use_deterministic_algorithms(True) + cuDNN deterministic, TensorFlow
# tf.config.experimental.enable_op_determinism(); seeds from the run seed (no measurable cost on CPU).
DETERMINISTIC = True
# TensorFlow: a tf.function train step over in-memory tensors, without XLA (jit_compile=False): Keras'
# own default on CPU-only machines, and torch runs eagerly (no torch.compile) — neither is compiled.
TF_JIT_COMPILE = False
