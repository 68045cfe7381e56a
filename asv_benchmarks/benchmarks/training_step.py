"""One CPU training step of a small MLP: marginloss.torch's loss against torch.nn's.

- ``TrainingStep``: forward through ``Linear(784, 256) - ReLU - Linear(256,
  C)``, the loss, backward, and an SGD step, on a batch of 512 float32
  samples; ``MultiMarginLoss`` with C = 10 classes, ``MultiLabelMarginLoss``
  with C = 100 classes and 10 labels per sample;
- ``LossStep``: the loss alone, forward + backward on the (512, C) scores the
  model would give (a fresh gradient per call), which is where the two
  implementations differ.

``implementation`` is "marginloss" (``marginloss.torch``'s module) or
"torch" (``torch.nn``'s); ``n_threads`` is set with ``torch.set_num_threads``,
which both PyTorch's ops and ``marginloss.torch`` follow.  The problem is the
same in every profile.  Skipped without PyTorch, and on commits without
``marginloss.torch``.
"""

from . import common
from .common import Benchmark

N_SAMPLES, N_FEATURES, N_HIDDEN = 512, 784, 256
# loss -> (classes, labels per sample or None)
LOSSES = {"multi_margin": (10, None), "multilabel_margin": (100, 10)}


class _Step(Benchmark):
    param_names = ["loss", "implementation", "n_threads"]
    params = [list(LOSSES), ["marginloss", "torch"], common.N_THREADS]

    def _prepare(self, loss, implementation, n_threads):
        torch, _ = common.import_torch()
        marginloss_torch = common.import_submodule("torch")
        self.torch = torch
        torch.set_num_threads(n_threads)
        n_classes, n_labels = LOSSES[loss]
        if n_labels is None:
            target = common.class_targets(N_SAMPLES, n_classes)
            module = "MultiMarginLoss"
        else:
            target = common.label_targets(N_SAMPLES, n_classes, n_labels)
            module = "MultiLabelMarginLoss"
        self.target = torch.from_numpy(target)
        library = marginloss_torch if implementation == "marginloss" else torch.nn
        self.criterion = getattr(library, module)()
        common.start_torch_threads(torch)
        common.start_threads(n_threads)
        return n_classes


class TrainingStep(_Step):
    def setup(self, loss, implementation, n_threads):
        n_classes = self._prepare(loss, implementation, n_threads)
        torch = self.torch
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(
            torch.nn.Linear(N_FEATURES, N_HIDDEN), torch.nn.ReLU(),
            torch.nn.Linear(N_HIDDEN, n_classes),
        )
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)
        self.x = torch.from_numpy(common.scores(N_SAMPLES, N_FEATURES, "float32"))
        self.time_step()  # the optimizer's and autograd's first-call costs

    def time_step(self, *params):
        self.optimizer.zero_grad()
        self.criterion(self.model(self.x), self.target).backward()
        self.optimizer.step()


class LossStep(_Step):
    def setup(self, loss, implementation, n_threads):
        n_classes = self._prepare(loss, implementation, n_threads)
        scores = common.scores(N_SAMPLES, n_classes, "float32")
        self.leaf = self.torch.from_numpy(scores).requires_grad_()

    def time_forward_backward(self, *params):
        self.leaf.grad = None
        self.criterion(self.leaf, self.target).backward()
