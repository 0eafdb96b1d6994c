"""pulumi_bridge"""
