"""L-BFGS that never waits for the device: one objective evaluation per step and no value read back to the host.

``torch.optim.LBFGS`` with its strong-Wolfe line search decides on the host: every step compares losses and
directional derivatives as Python floats (each a host synchronisation, on a GPU a wait for every queued kernel),
evaluates the objective at least twice (once more at the point its line search already evaluated), and runs its
two-loop recursion as ``4 x history`` small kernels. Here every decision is a tensor:

- **Direction**: the compact representation of the L-BFGS inverse Hessian (Byrd, Nocedal & Schnabel 1994,
  eq. 3.1; Nocedal & Wright, *Numerical Optimization*, 7.4), ``H g = gamma g + S^T v - gamma Y^T u`` with
  ``u = R^-1 (S g)`` and ``v = R^-T ((D + gamma Y Y^T) u - gamma Y g)``, from the stacked history ``S``, ``Y``
  (oldest first) and the upper triangle ``R`` of ``s_i . y_j``, kept up to date with two products per step:
  a fixed handful of kernels whatever the history size.
- **Step length**: backtracking on the device. A step tries ``x + t d``; if the loss there satisfies the Armijo
  condition the point is accepted (and ``t`` reset), else ``x`` stays and ``t`` halves for the next step. Choices
  are ``torch.where``, so a rejected trial costs one evaluation and no synchronisation.
- **History**: a pair ``(s, y)`` enters only when accepted with positive curvature ``y . s``; entering shifts the
  stack by one (``torch.where``), so the order stays chronological without a host-side pointer.

The caller reads the losses when it wants them (``workflow_scripts.transfer.optimise`` every few steps for early
stopping).
"""

from __future__ import annotations

import torch

from workflow_scripts.transfer.batching import Evaluate

# Sufficient decrease of the Armijo condition (Nocedal & Wright's usual c1).
ARMIJO = 1e-4
# Smallest curvature y . s of a pair kept in the history (torch's LBFGS uses the same threshold).
CURVATURE = 1e-10


class DeviceLBFGS:
    """Minimises an :data:`~workflow_scripts.transfer.batching.Evaluate` from ``initial``, one evaluation per
    :meth:`step`.

    Args:
        evaluate: the objective: losses ``(total, content, style)`` and the total's gradient at a point.
        initial: starting point (any shape; its device and dtype are the optimiser's).
        history_size: pairs of the L-BFGS memory.
        learning_rate: step length tried after an accepted step; the first step tries
            ``min(1, 1 / |g|_1) * learning_rate`` along ``-g``, as ``torch.optim.LBFGS`` does.
    """

    def __init__(self, evaluate: Evaluate, initial: torch.Tensor, history_size: int, learning_rate: float) -> None:
        self.evaluate, self.shape, self.learning_rate = evaluate, initial.shape, learning_rate
        point = initial.detach().reshape(-1).clone()
        losses, grad = evaluate(point.reshape(self.shape), True)
        self.point, self.losses, self.grad = point, losses, grad.reshape(-1)
        self.s = point.new_zeros(history_size, point.numel())
        self.y = point.new_zeros(history_size, point.numel())
        self.r = point.new_zeros(history_size, history_size)  # r[i, j] = s_i . y_j (i <= j), oldest first
        self.yy = point.new_zeros(history_size, history_size)
        self.gamma = point.new_ones(())
        self.direction = -self.grad
        self.length = torch.clamp(1.0 / self.grad.abs().sum(), max=1.0) * learning_rate

    @property
    def current(self) -> torch.Tensor:
        """The accepted point, shaped like ``initial`` (a view: copy it to keep it)."""
        return self.point.reshape(self.shape)

    def step(self) -> torch.Tensor:
        """Try one step; returns the losses at the (possibly unchanged) accepted point, on the device."""
        trial = self.point + self.length * self.direction
        losses, grad = self.evaluate(trial.reshape(self.shape), True)
        grad = grad.reshape(-1)
        slope = torch.dot(self.grad, self.direction)
        accept = losses[0] <= self.losses[0] + ARMIJO * self.length * slope  # False for NaN
        s, y = trial - self.point, grad - self.grad
        self._remember(s, y, accept & (torch.dot(s, y) > CURVATURE))
        self.point = torch.where(accept, trial, self.point)
        self.losses = torch.where(accept, losses, self.losses)
        self.grad = torch.where(accept, grad, self.grad)
        self.direction = torch.where(accept, -self._inverse_hessian_times(self.grad), self.direction)
        self.length = torch.where(accept, self.learning_rate, 0.5 * self.length)
        return self.losses

    def _remember(self, s: torch.Tensor, y: torch.Tensor, keep: torch.Tensor) -> None:
        """Append ``(s, y)`` to the history (dropping the oldest pair) where ``keep``; otherwise leave it."""
        shifted_s = torch.cat([self.s[1:], s[None]])
        shifted_y = torch.cat([self.y[1:], y[None]])
        new_column = shifted_s @ y  # s_i . y_new for every i, the new pair's own curvature last
        r = torch.nn.functional.pad(self.r[1:, 1:], (0, 1, 0, 1))
        r[:, -1] = new_column
        yy_row = shifted_y @ y
        yy = torch.nn.functional.pad(self.yy[1:, 1:], (0, 1, 0, 1))
        yy[:, -1] = yy_row
        yy[-1, :] = yy_row
        self.s = torch.where(keep, shifted_s, self.s)
        self.y = torch.where(keep, shifted_y, self.y)
        self.r = torch.where(keep, r, self.r)
        self.yy = torch.where(keep, yy, self.yy)
        self.gamma = torch.where(keep, new_column[-1] / yy_row[-1], self.gamma)

    def _inverse_hessian_times(self, grad: torch.Tensor) -> torch.Tensor:
        """``H g`` by the compact representation (module docstring). Unfilled history rows are zero: a unit
        diagonal in ``R`` keeps it invertible and they contribute nothing."""
        curvature = torch.diagonal(self.r)
        r = self.r + torch.diag((curvature == 0).to(self.r.dtype))
        s_g, y_g = self.s @ grad, self.y @ grad
        u = torch.linalg.solve_triangular(r, s_g[:, None], upper=True)
        middle = (curvature[:, None] * u + self.gamma * (self.yy @ u)) - self.gamma * y_g[:, None]
        v = torch.linalg.solve_triangular(r.T, middle, upper=False)
        return self.gamma * grad + (self.s.T @ v - self.gamma * (self.y.T @ u))[:, 0]
