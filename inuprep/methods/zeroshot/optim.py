"""Adam (Kingma & Ba 2015) with L2 weight decay, as torch.optim.Adam computes it.

torch.optim.Adam imports torch._dynamo on construction, a large share of a correction's time; the update
is a few lines; ``tests/methods/test_zeroshot.py`` checks it step for step against torch.optim.Adam.
"""

import torch


class Adam:
    """Minimise with Adam: ``zero_grad()``, backward, ``step()``."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.params]
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1**self.steps, 1 - beta2**self.steps
        for p, (first, second) in zip(self.params, self.moments, strict=True):
            if p.grad is None:
                continue
            grad = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            first.mul_(beta1).add_(grad, alpha=1 - beta1)
            second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denominator = (second / correction2).sqrt_().add_(self.eps)
            p.addcdiv_(first, denominator, value=-self.lr / correction1)
