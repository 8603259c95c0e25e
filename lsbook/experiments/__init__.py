"""Experiments that combine several stored runs: knowledge distillation (Section 6 of the
replication; Table 4, Figures 7 and 8) and the mutual-information curve of the original paper
(Müller et al. 2019, Section 4 and Appendix A.2)."""
