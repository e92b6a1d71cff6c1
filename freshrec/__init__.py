"""freshrec"""
