"""nipype workflow factories: participant, per image, correction, outputs."""
