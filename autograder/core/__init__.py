"""(package face: see docs/architecture.md)"""
