"""The seed article's worked example (its section 4.4), done right.

A 2 -> 3 -> 1 MLP with ReLU, MSE loss and SGD (lr 0.1) on one sample
x = [1, 2], y = 3. The seed prints a loss of 5.667 and a gradient of
[0.2, 0.2, 0.2]; its code cannot produce those (the first parameter's gradient
has shape 3x2, and the loss depends on the random initialisation). Here the
initialisation is seeded, the target has the output's shape (the seed's
``tensor([3.0])`` broadcasts against a 1x1 output), and the gradients autograd
computes are checked against central finite differences in float64.

Run it: ``python -m models.worked_example``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

LEARNING_RATE = 0.1
FINITE_DIFFERENCE_STEP = 1e-6


@dataclasses.dataclass(frozen=True)
class WorkedExample:
    loss: float
    autograd: dict[str, torch.Tensor]
    finite_difference: dict[str, torch.Tensor]
    before: dict[str, torch.Tensor]
    after: dict[str, torch.Tensor]


def build(seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).to(dtype)


def finite_difference_gradients(model: nn.Module, loss_fn, step: float = FINITE_DIFFERENCE_STEP):
    """Central differences of ``loss_fn()`` with respect to every parameter element."""
    grads = {}
    with torch.no_grad():
        for name, param in model.named_parameters():
            grad = torch.zeros_like(param)
            flat, flat_grad = param.view(-1), grad.view(-1)
            for i in range(flat.numel()):
                original = flat[i].item()
                flat[i] = original + step
                plus = loss_fn().item()
                flat[i] = original - step
                minus = loss_fn().item()
                flat[i] = original
                flat_grad[i] = (plus - minus) / (2 * step)
            grads[name] = grad
    return grads


def run(seed: int = 0, dtype: torch.dtype = torch.float64) -> WorkedExample:
    model = build(seed, dtype)
    x = torch.tensor([[1.0, 2.0]], dtype=dtype)
    y = torch.tensor([[3.0]], dtype=dtype)
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def loss_fn():
        return criterion(model(x), y)

    finite = finite_difference_gradients(model, loss_fn)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer.zero_grad()
    loss = loss_fn()
    loss.backward()
    autograd = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    optimizer.step()
    after = {name: p.detach().clone() for name, p in model.named_parameters()}
    return WorkedExample(loss.item(), autograd, finite, before, after)


if __name__ == "__main__":
    example = run()
    print(f"loss: {example.loss:.6f}")
    for name, grad in example.autograd.items():
        diff = (grad - example.finite_difference[name]).abs().max().item()
        print(f"grad {name}: {grad.flatten().tolist()} (max |autograd - finite difference| = {diff:.1e})")
