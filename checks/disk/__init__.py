"""disk.space: free space and inodes per filesystem; ``scan.py`` is the who-is-eating-the-disk walk."""
