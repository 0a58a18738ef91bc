"""Transport: the asyncio.Protocol adapter, paced connects, and OS limits."""
