"""stack_settings"""
