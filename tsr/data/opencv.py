"""The one place tsr imports OpenCV.

OpenCV's own thread pool, once started in the parent process, has deadlocked
DataLoader workers forked from it. tsr's image work is per 32x32 image, where
the pool buys nothing, so it is switched off before any OpenCV call.
"""

import cv2

cv2.setNumThreads(1)

__all__ = ["cv2"]
