"""``python -m marginloss._tools.torch_calls``: marginloss.torch's per-call cost against torch's.

Times, in one process with ``torch.set_num_threads(2)`` (``--threads``), in
rounds of 20 calls (ours, torch, ours, torch, ...), case by case, the medians of

- the loss's forward + backward on a fresh leaf gradient: the multi-class
  loss at (32, 10), (128, 10) and (512, 10), the multi-label loss at (32, 10)
  with 3 labels per sample (float32, reduction='mean');
- one SGD step of a 64-128-10 MLP (Linear, ReLU, Linear) at batch 32 with
  ``MultiMarginLoss``;
- with ``--compiled``, ``torch.compile`` of the multi-class loss's forward +
  backward at (16384, 100) (ours: the custom op in the graph; torch's: its
  decomposition);

and prints a table of ours, torch's and their ratio.  Speed is tracked in
asv (``asv_benchmarks/benchmarks/training_step.py``); this is the quick look
of docs/design.md, "PyTorch integration".
"""

import argparse
import statistics
import time


def _leaf_step(loss, scores, target):
    def step():
        scores.grad = None
        loss(scores, target).backward()
    return step


def _sgd_step(torch, criterion, batch=32):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 64)
    target = torch.randint(0, 10, (batch,))

    def step():
        optimizer.zero_grad()
        criterion(model(x), target).backward()
        optimizer.step()
    return step


def cases(compiled=False):
    """``[(name, ours, torch's)]``: zero-argument callables to time."""
    import torch
    import torch.nn.functional as F

    import marginloss.torch as mt

    generator = torch.Generator().manual_seed(0)
    found = []
    for n_samples in (32, 128, 512):
        scores = torch.randn(n_samples, 10, generator=generator)
        target = torch.randint(0, 10, (n_samples,), generator=generator)
        found.append((f"multi-margin ({n_samples}, 10)",
                      _leaf_step(mt.multi_margin_loss, scores.clone().requires_grad_(), target),
                      _leaf_step(F.multi_margin_loss, scores.clone().requires_grad_(), target)))
    scores = torch.randn(32, 10, generator=generator)
    labels = torch.stack([torch.randperm(10, generator=generator) for _ in range(32)])
    target = torch.cat([labels[:, :3], torch.full((32, 7), -1)], dim=1)
    found.append(("multi-label (32, 10), 3 labels",
                  _leaf_step(mt.multilabel_margin_loss, scores.clone().requires_grad_(), target),
                  _leaf_step(F.multilabel_margin_loss, scores.clone().requires_grad_(), target)))
    found.append(("SGD step, 64-128-10 MLP, batch 32",
                  _sgd_step(torch, mt.MultiMarginLoss()),
                  _sgd_step(torch, torch.nn.MultiMarginLoss())))
    if compiled:
        scores = torch.randn(16384, 100, generator=generator)
        target = torch.randint(0, 100, (16384,), generator=generator)
        steps = []
        for loss in (mt.multi_margin_loss, F.multi_margin_loss):
            step = _leaf_step(torch.compile(loss, fullgraph=True),
                              scores.clone().requires_grad_(), target)
            step()  # compile
            steps.append(step)
        found.append(("compiled multi-margin (16384, 100)", *steps))
    return found


def measure(found, rounds, calls):
    """``{name: (ours, torch's)}``: median seconds per call over ``rounds``
    rounds of ``calls`` calls, ours and torch's interleaved, one case after
    the other (short rounds: a round that another process interrupts is an
    outlier the median drops; one case at a time: one case's threads do not
    slow the next one's)."""
    results = {}
    for name, ours, theirs in found:
        timings = ([], [])
        for _ in range(3):  # warm-up
            ours()
            theirs()
        for _ in range(rounds):
            for index, step in enumerate((ours, theirs)):
                start = time.perf_counter_ns()
                for _ in range(calls):
                    step()
                timings[index].append((time.perf_counter_ns() - start) / calls)
        results[name] = tuple(statistics.median(times) * 1e-9 for times in timings)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=301)
    parser.add_argument("--calls", type=int, default=20, help="calls per entry and round")
    parser.add_argument("--compiled", action="store_true",
                        help="also torch.compile at (16384, 100)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    found = cases(args.compiled)
    results = measure(found, args.rounds, args.calls)
    print(f"| forward + backward, {args.threads} threads | marginloss.torch | torch | ratio |")
    print("|---|---|---|---|")
    for name, (ours, theirs) in results.items():
        print(f"| {name} | {ours * 1e6:.1f} µs | {theirs * 1e6:.1f} µs | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
