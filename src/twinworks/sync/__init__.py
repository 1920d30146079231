"""Connections VE↔PE: state estimation, calibration, consistency, versioned model update."""
