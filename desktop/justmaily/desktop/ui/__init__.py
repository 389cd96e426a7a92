"""The Qt layer: windows and widgets over the engine, with asyncio inside Qt's loop (qasync)."""
