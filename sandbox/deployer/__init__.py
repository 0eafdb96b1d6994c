"""deployer"""
