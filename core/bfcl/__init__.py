"""BFCL pieces shared by training and evaluation: the bfcl-eval gateway (``env``), the thesis
data set and prompt (``data``), call parsing (``parse``) and the thesis reward (``reward``).

The official protocol (bfcl-eval's checkers) is evaluation only: ``benchmarks.bfcl``. Import
the submodules directly; importing this package does nothing, so the reward library can use
``reward`` without preparing bfcl-eval (``env`` does that on the first bfcl_eval import).
"""
